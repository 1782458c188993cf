# Shortcuts for the two commands of README.md.
.PHONY: run test
run:
	./run.sh
test:
	./test.sh
