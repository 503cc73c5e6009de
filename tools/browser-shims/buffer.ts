/**
 * Injected into the browser bundle (esbuild `inject`): the global `Buffer` that lib/image/png.ts
 * and pngjs's browser build use, from the `buffer` package (the implementation browserify ships).
 */
import { Buffer } from 'buffer';

export { Buffer };
