/**
 * $gzip_ratio (ngx_http_gzip_filter_module): the compression ratio of the
 * response, from the bytes into and out of the gzip filter.
 */

/** Bytes into and out of the gzip filter, once the body is through. */
export interface GzipCounts {
  readonly zin: number;
  readonly zout: number;
}

/** $gzip_ratio: zin / zout with two decimals, rounded as ngx_http_gzip_ratio_variable(). */
export function gzipRatio(counts: GzipCounts | undefined): string | undefined {
  if (counts === undefined || counts.zout === 0) return undefined;
  const { zin, zout } = counts;
  let whole = Math.floor(zin / zout);
  let fraction = Math.floor((zin * 100) / zout) % 100;
  if (Math.floor((zin * 1000) / zout) % 10 > 4) {
    fraction++;
    if (fraction > 99) {
      whole++;
      fraction = 0;
    }
  }
  return `${whole}.${String(fraction).padStart(2, "0")}`;
}
