/**
 * nginx's size syntax: ngx_parse_size() ("512", "8k", "1m": k and m only,
 * either case) for sizes, ngx_parse_offset() (g too) for offsets.
 */

const UNITS: Readonly<Record<string, number>> = { "": 1, k: 1024, m: 1024 * 1024, g: 1024 ** 3 };

/** ngx_parse_size(); undefined where nginx returns NGX_ERROR. */
export function parseSizeValue(text: string): number | undefined {
  return scaled(/^(\d+)([kKmM]?)$/.exec(text));
}

/** ngx_parse_offset(); undefined where nginx returns NGX_ERROR. */
export function parseOffsetValue(text: string): number | undefined {
  return scaled(/^(\d+)([kKmMgG]?)$/.exec(text));
}

function scaled(match: RegExpExecArray | null): number | undefined {
  return match ? Number(match[1]) * UNITS[match[2]!.toLowerCase()]! : undefined;
}
