"""The composition root and the command line: wires core and models together for every front end."""
