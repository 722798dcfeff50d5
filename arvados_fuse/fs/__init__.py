"""The model: inodes, directories and files, what each shows and when it is
stale.  Testable without a kernel: nothing here imports llfuse, and nothing
here talks to the network except through the client object it is given."""
