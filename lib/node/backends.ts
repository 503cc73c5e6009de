/**
 * Node-only backend loaders: `native` (this package's addon, built from source at install when a
 * compiler is present; it registers its own loader on import) and `tensorflow` when the user
 * installed @tensorflow/tfjs-node (or -gpu), which is never a dependency of this package.
 */
import { backendLoaders } from '../backend/select.js';
import './native-backend.js';

backendLoaders.tensorflow = async () => {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return true;
    } catch { /* not installed */ }
  }
  return false;
};
