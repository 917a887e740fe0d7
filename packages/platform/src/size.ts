// Memory sizes in the notation of QEMU's -m and the host spec: "4G", "512M", "64K", plain bytes.

const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Parses "4G", "512M", "4096" or a number of bytes; throws RangeError naming the bad text. */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) throw new RangeError(`invalid size ${text}`);
    return text;
  }
  const m = /^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`invalid size "${text}" (expected e.g. 4G, 512M, 65536)`);
  const value = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(value)) throw new RangeError(`size "${text}" is too large`);
  return value;
}

/** 4294967296 -> "4 GiB"; non-round values keep two decimals. */
export function formatSize(bytes: number): string {
  for (const [unit, scale] of [['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (bytes >= scale) {
      const v = bytes / scale;
      return `${Number.isInteger(v) ? v : v.toFixed(2)} ${unit}`;
    }
  }
  return `${bytes} B`;
}
