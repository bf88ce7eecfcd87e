/**
 * `lightningstream docs`: markdown documentation of every command on stdout, generated from the command tree,
 * laid out like Go's (cobra's) `docs`: one `## lightningstream <command>` section per command, depth first and
 * sorted by name, with its description, a usage block and its options (the global options under the program's
 * own section). Needs no config (Go's loads one first).
 */
import type { Command } from 'commander';
import { commandTree, flatten, visibleOptions, type CommandNode } from './command-tree.js';
import type { ContextFactory } from './context.js';

function optionsBlock(node: CommandNode): string[] {
  const opts = visibleOptions(node.command);
  if (opts.length === 0) return [];
  const width = Math.max(...opts.map((o) => o.term.length));
  return ['### Options', '', '```', ...opts.map((o) => `  ${o.term.padEnd(width)}   ${o.description}`.trimEnd()), '```', ''];
}

function section(node: CommandNode, programName: string): string[] {
  const cmd = node.command;
  const title = [programName, ...node.path].join(' ');
  const usage = cmd.usage();
  const lines = [`## ${title}`, ''];
  if (cmd.description()) lines.push(cmd.description(), '');
  lines.push('```', `${title}${usage ? ` ${usage}` : ''}`, '```', '');
  lines.push(...optionsBlock(node));
  if (node.children.length > 0) {
    lines.push('### Commands', '');
    for (const c of node.children) lines.push(`- \`${[title, c.command.name()].join(' ')}\`: ${c.command.description()}`);
    lines.push('');
  }
  return lines;
}

/** The markdown of every command under program. */
export function commandDocs(program: Command): string {
  const root = commandTree(program);
  return `${flatten(root).flatMap((node) => section(node, program.name())).join('\n').trimEnd()}\n`;
}

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('docs')
    .description('Generate markdown documentation for all commands to stdout')
    .action(contexts.actionWithoutConfig(() => {
      process.stdout.write(commandDocs(program));
      return 0;
    }));
}
