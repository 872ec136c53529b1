"""The demo application `jobstreamer up` uploads: one task, `hello.tasks:greet`."""
