/** Entry of the detached relay process: `node --import tsx relay-main.ts <labDir>`. */
import { runRelay } from './relay.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: relay-main <lab dir>');
  process.exit(2);
}
await runRelay(dir);
