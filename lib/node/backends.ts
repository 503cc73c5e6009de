/**
 * Node-only backend loaders: `tensorflow` when the user installed @tensorflow/tfjs-node (or -gpu);
 * never a dependency of this package. The native addon registers itself from native-backend.ts.
 */
import { backendLoaders } from '../backend/select.js';

backendLoaders.tensorflow = async () => {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return true;
    } catch { /* not installed */ }
  }
  return false;
};
