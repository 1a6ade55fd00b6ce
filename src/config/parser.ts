/**
 * Tokens to a tree of directives, with `include` expanded in place (as nginx
 * does while reading). The tree is plain data; checking it against the
 * directive table is the analyzer's job.
 */

import { readFileSync } from "node:fs";
import { COMMAND_LINE, ConfigError, systemErrorText, type SourcePlace } from "../core/errors.js";
import { expandGlob, hasGlobMagic } from "./glob.js";
import { tokenize, type LexSource, type Lexed, type Token } from "./lexer.js";
import { resolveFromPrefix } from "./paths.js";

export interface DirectiveNode extends SourcePlace {
  readonly name: string;
  readonly args: readonly string[];
  /** Present (possibly empty) when the directive was written with a `{ }` block. */
  readonly block?: readonly DirectiveNode[];
  /** The line of a block's closing "}" (where nginx reports what it checks once a block is read). */
  readonly blockEnd?: number;
  /**
   * Set on the last node of a tree whose reading failed here (syntax, missing
   * include): the analyzer reports it when it gets this far, so directives
   * before it are checked first, in nginx's order.
   */
  readonly error?: ConfigError;
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
  /** Texts to use instead of reading these paths (a worker parses what its master read). */
  readonly sources?: ReadonlyMap<string, string>;
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
  /** Once a reading error is placed in the tree, nothing after it is read. */
  private stopped = false;

  constructor(
    private readonly options: ParseOptions,
    private readonly files: Array<{ path: string; text: string }>,
  ) {}

  file(path: string, includedFrom?: SourcePlace): DirectiveNode[] {
    let text: string;
    try {
      text = this.options.sources?.get(path) ?? readFileSync(path, "latin1");
    } catch (err) {
      const error = new ConfigError("include", `open() "${path}" failed (${systemErrorText(err)})`, includedFrom);
      if (!includedFrom) throw error;
      return [this.stop(error)];
    }
    this.files.push({ path, text });
    return this.tokens(tokenize({ name: path, text }), path);
  }

  tokens(lexed: Lexed, file: string): DirectiveNode[] {
    return this.block(lexed, { at: 0 }, file, false);
  }

  private block(
    lexed: Lexed,
    state: { at: number; closedAt?: number },
    file: string,
    inBlock: boolean,
  ): DirectiveNode[] {
    const tokens: readonly Token[] = lexed.tokens;
    const nodes: DirectiveNode[] = [];
    while (state.at < tokens.length && !this.stopped) {
      const first = tokens[state.at]!;
      if (first.kind === "}") {
        state.at++;
        state.closedAt = first.line;
        if (!inBlock) nodes.push(this.stop(new ConfigError("syntax", `unexpected "}"`, { file, line: first.line })));
        return nodes;
      }
      const args: string[] = [];
      while (state.at < tokens.length && tokens[state.at]!.kind === "word") {
        args.push(tokens[state.at]!.value);
        state.at++;
      }
      // Words with no ";" or "{" after them come only before a lexical error.
      const end = tokens[state.at++];
      if (!end) break;
      const name = args.shift()!;
      const place = { file, line: end.line };
      if (end.kind === "{") {
        const block = this.block(lexed, state, file, true);
        nodes.push({ name, args, block, ...place, ...(state.closedAt !== undefined && { blockEnd: state.closedAt }) });
      } else if (name === "include") {
        nodes.push(...this.include(args, place));
      } else {
        nodes.push({ name, args, ...place });
      }
    }
    if (this.stopped) return nodes;
    if (lexed.error) nodes.push(this.stop(lexed.error));
    else if (inBlock) {
      nodes.push(
        this.stop(new ConfigError("syntax", `unexpected end of file, expecting "}"`, { file, line: lexed.endLine })),
      );
    }
    return nodes;
  }

  private stop(error: ConfigError): DirectiveNode {
    this.stopped = true;
    return { name: "", args: [], file: error.place?.file ?? "", line: error.place?.line ?? 0, error };
  }

  /** ngx_conf_include(): one file, or every match of a glob (none is fine), sorted. */
  private include(args: string[], place: SourcePlace): DirectiveNode[] {
    if (args.length !== 1) {
      return [this.stop(new ConfigError("arguments", `invalid number of arguments in "include" directive`, place))];
    }
    const pattern = resolveFromPrefix(this.options.confPrefix, args[0]!);
    const paths = hasGlobMagic(pattern) ? expandGlob(pattern) : [pattern];
    const nodes: DirectiveNode[] = [];
    for (const path of paths) {
      if (this.stopped) break;
      nodes.push(...this.file(path, place));
    }
    return nodes;
  }
}
