// Every run of the command tree points the process-wide Serilog logger at its own stderr, so two commands run by
// parallel tests would take each other's log lines (and "one line on stderr" is what bad-input tests assert).
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
