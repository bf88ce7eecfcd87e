/**
 * The command tree as `completion` and `docs` read it: every command reachable from the program (commander's
 * visible commands, the implicit `help` included), depth first, sorted by name like Go's cobra, with its
 * visible options. Hidden options and commands stay out, as from `--help`.
 */
import type { Command, Option } from 'commander';

export interface OptionInfo {
  /** `--config`, or undefined for a short-only option. */
  long?: string;
  /** `-c`. */
  short?: string;
  /** The option is followed by a value (`--config <file>`). */
  takesValue: boolean;
  /** Allowed values, when the option declares them. */
  choices?: readonly string[];
  description: string;
  /** How --help shows it: `-c, --config <file>`. */
  term: string;
}

export interface CommandNode {
  command: Command;
  /** Names from the program down, without the program's: [] for the program, ['snapshots', 'list']. */
  path: string[];
  children: CommandNode[];
}

export function optionInfo(cmd: Command, option: Option): OptionInfo {
  const help = cmd.createHelp();
  return {
    long: option.long,
    short: option.short,
    takesValue: option.required || option.optional,
    choices: option.argChoices,
    description: help.optionDescription(option),
    term: help.optionTerm(option),
  };
}

/** The options `--help` shows for cmd (its own, with -h/--help). */
export function visibleOptions(cmd: Command): OptionInfo[] {
  return cmd.createHelp().visibleOptions(cmd).map((o) => optionInfo(cmd, o));
}

/** The tree under program, children sorted by name. */
export function commandTree(program: Command, path: string[] = []): CommandNode {
  const children = program.createHelp().visibleCommands(program)
    .slice()
    .sort((a, b) => a.name().localeCompare(b.name()))
    .map((c) => commandTree(c, [...path, c.name()]));
  return { command: program, path, children };
}

/** Every node of the tree, the root first, depth first. */
export function flatten(node: CommandNode): CommandNode[] {
  return [node, ...node.children.flatMap(flatten)];
}
