// Preloaded with --import into a profiled service: SIGUSR2 exits the process normally, which
// makes `node --cpu-prof` write its profile (a process killed by a signal writes none).
process.on('SIGUSR2', () => process.exit(0));
