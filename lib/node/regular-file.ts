/**
 * Node-only: why a path cannot be read as a file before anything opens it. Opening a named pipe for
 * reading blocks until a writer appears (a `model.safetensors` FIFO hung the process), and a device such as
 * /dev/zero never ends; every reader of user files asks here first and names the path in its own error.
 */
import fs from 'node:fs';

/**
 * Undefined for a regular file (or a missing path: the caller's read reports that); else what it is.
 * @param pipes accept a named pipe too: a file read whole, such as an image, may come from `/dev/stdin` or `<(...)`
 */
export function notRegularFile(file: string, pipes = false): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  if (st.isFile() || (pipes && st.isFIFO())) return undefined;
  if (st.isDirectory()) return 'is a directory';
  if (st.isFIFO()) return 'is a named pipe, not a file';
  if (st.isSocket()) return 'is a socket, not a file';
  return 'is a device, not a file';
}
