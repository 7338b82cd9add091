#!/usr/bin/env -S npx tsx
import { Command, CommanderError, Help, InvalidArgumentError, type Option } from 'commander';
import { explain } from './explain.js';
import { registerContainerCommands } from './commands/containers.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerHostCommands } from './commands/hosts.js';
import { registerIpCommands } from './commands/ips.js';
import { registerLabCommands } from './commands/lab.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerNetworkCommands } from './commands/networks.js';
import { registerSimCommand } from './commands/sim.js';
import { registerWatchCommand } from './commands/watch.js';

const program = new Command('fjordctl')
  .description('operate a Fjord control plane')
  .option('--server <host:port>', 'scheduler gRPC address', process.env.FJORD_SERVER ?? '127.0.0.1:50051')
  .option('--json', 'print JSON instead of tables', false)
  .showHelpAfterError()
  // Commander's help does not say which options a command cannot do without; every command inherits this.
  .configureHelp({
    optionDescription(this: Help, option: Option): string {
      const text = Help.prototype.optionDescription.call(this, option);
      return option.mandatory ? `${text} (required)` : text;
    },
  })
  .exitOverride();

registerContainerCommands(program);
registerHostCommands(program);
registerNetworkCommands(program);
registerIpCommands(program);
registerWatchCommand(program);
registerSimCommand(program);
registerLabCommands(program);
registerDemoCommand(program);
registerMigrateCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Commander has printed its own parse errors; one thrown by an action it has not.
  if (err instanceof CommanderError && !(err instanceof InvalidArgumentError)) process.exit(err.exitCode);
  console.error(`fjordctl: ${explain(err)}`);
  process.exit(1);
}
