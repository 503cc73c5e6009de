/**
 * Sizes no real checkpoint file reaches, shared by the Node hub downloader and the browser loader:
 * a server streaming a "config" without end would otherwise fill the disk or the page's memory.
 */

/** config.json, preprocessor_config.json and shard indexes are kilobytes to a few megabytes. */
export const MAX_JSON_BYTES = 64 << 20;
