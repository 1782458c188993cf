"""The CLI/API driven by CommuniGate's own Perl client, CGP::CLI, where it is installed.

Debian has no package of it and CPAN is not reachable from the machines this suite runs on, so the test
skips unless `perl -MCGP::CLI` works (install it with `cpan CGP::CLI` where CPAN is reachable)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode

pytestmark = pytest.mark.interop

SCRIPT = r"""
use strict;
use CGP::CLI;
my $cli = new CGP::CLI({PeerAddr => '127.0.0.1', PeerPort => $ARGV[0], login => 'postmaster',
                        password => $ARGV[1]}) || die "login: $CGP::ERR_STRING\n";
$cli->CreateDomain('perl.test') || die "CreateDomain: " . $cli->getErrMessage() . "\n";
$cli->CreateAccount(accountName => 'pat@perl.test', settings => {RealName => 'Pat'})
    || die "CreateAccount: " . $cli->getErrMessage() . "\n";
my $settings = $cli->GetAccountSettings('pat@perl.test') || die "GetAccountSettings\n";
print "RealName=$settings->{RealName}\n";
my $domains = $cli->ListDomains() || die "ListDomains\n";
print "domains=" . join(',', sort @$domains) . "\n";
$cli->Logout();
"""


def test_perl_cgp_cli(cli_node: ThreadedNode) -> None:
    if shutil.which("perl") is None:
        pytest.skip("perl is not installed")
    probe = subprocess.run(["perl", "-MCGP::CLI", "-e", "1"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the Perl module CGP::CLI is not installed (no Debian package; CPAN unreachable here)")
    port = str(cli_node.config.service("cliapi").ports[0])
    result = subprocess.run(["perl", "-e", SCRIPT, port, POSTMASTER_PASSWORD], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "RealName=Pat" in result.stdout
    assert "perl.test" in result.stdout
