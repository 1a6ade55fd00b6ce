/**
 * Tokens to a tree of directives, with `include` expanded in place (as nginx
 * does while reading). The tree is plain data; checking it against the
 * directive table is the analyzer's job.
 */

import { readFileSync } from "node:fs";
import { COMMAND_LINE, ConfigError, systemErrorText, type SourcePlace } from "./errors.js";
import { expandGlob, hasGlobMagic } from "./glob.js";
import { tokenize, type LexSource, type Lexed, type Token } from "./lexer.js";
import { resolveFromPrefix } from "./paths.js";

export interface DirectiveNode extends SourcePlace {
  readonly name: string;
  readonly args: readonly string[];
  /** Present (possibly empty) when the directive was written with a `{ }` block. */
  readonly block?: readonly DirectiveNode[];
}

export interface ParsedConfig {
  readonly file: string;
  readonly tree: readonly DirectiveNode[];
  /** Every file read, main file first, in the order read (for `-T`). */
  readonly files: ReadonlyArray<{ readonly path: string; readonly text: string }>;
}

export interface ParseOptions {
  /** Directory against which relative `include` paths are resolved (nginx's conf prefix). */
  readonly confPrefix: string;
}

export function parseFile(file: string, options: ParseOptions): ParsedConfig {
  const files: Array<{ path: string; text: string }> = [];
  const tree = new TreeBuilder(options, files).file(file);
  return { file, tree, files };
}

/** Parse a `-g` parameter string: directives for the main context, no includes of files. */
export function parseParameter(text: string, options: ParseOptions): DirectiveNode[] {
  const source: LexSource = { name: COMMAND_LINE, text, isParameter: true };
  return new TreeBuilder(options, []).tokens(tokenize(source), source.name);
}

class TreeBuilder {
  constructor(
    private readonly options: ParseOptions,
    private readonly files: Array<{ path: string; text: string }>,
  ) {}

  file(path: string, includedFrom?: SourcePlace): DirectiveNode[] {
    let text: string;
    try {
      text = readFileSync(path, "latin1");
    } catch (err) {
      throw new ConfigError("include", `open() "${path}" failed (${systemErrorText(err)})`, includedFrom);
    }
    this.files.push({ path, text });
    return this.tokens(tokenize({ name: path, text }), path);
  }

  tokens(lexed: Lexed, file: string): DirectiveNode[] {
    return this.block(lexed, { at: 0 }, file, false);
  }

  private block(lexed: Lexed, state: { at: number }, file: string, inBlock: boolean): DirectiveNode[] {
    const tokens: readonly Token[] = lexed.tokens;
    const nodes: DirectiveNode[] = [];
    while (state.at < tokens.length) {
      const first = tokens[state.at]!;
      if (first.kind === "}") {
        state.at++;
        if (!inBlock) throw new ConfigError("syntax", `unexpected "}"`, { file, line: first.line });
        return nodes;
      }
      const args: string[] = [];
      while (state.at < tokens.length && tokens[state.at]!.kind === "word") {
        args.push(tokens[state.at]!.value);
        state.at++;
      }
      // The lexer guarantees a statement ends with ";" or "{" (or it threw).
      const end = tokens[state.at++]!;
      const name = args.shift()!;
      const place = { file, line: end.line };
      if (end.kind === "{") {
        const block = this.block(lexed, state, file, true);
        nodes.push({ name, args, block, ...place });
      } else if (name === "include") {
        nodes.push(...this.include(args, place));
      } else {
        nodes.push({ name, args, ...place });
      }
    }
    if (inBlock) {
      throw new ConfigError("syntax", `unexpected end of file, expecting "}"`, {
        file,
        line: lexed.endLine,
      });
    }
    return nodes;
  }

  /** ngx_conf_include(): one file, or every match of a glob (none is fine), sorted. */
  private include(args: string[], place: SourcePlace): DirectiveNode[] {
    if (args.length !== 1) {
      throw new ConfigError("arguments", `invalid number of arguments in "include" directive`, place);
    }
    const pattern = resolveFromPrefix(this.options.confPrefix, args[0]!);
    const paths = hasGlobMagic(pattern) ? expandGlob(pattern) : [pattern];
    return paths.flatMap((path) => this.file(path, place));
  }
}
