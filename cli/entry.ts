import { main } from './main.js';

const code = await main(process.argv.slice(2));
// A failed agent/collector may have timers or sockets open already: leave now instead of lingering.
if (code !== 0) process.exit(code);
process.exitCode = code;
