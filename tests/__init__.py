"""The test suite, a package so that ``tests.support`` imports the same from every folder."""
