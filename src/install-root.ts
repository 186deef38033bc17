// Where the built artifacts the agent loads (BPF objects, the addon) live: the nearest
// directory above this module with a package.json. That is the checkout for src/
// (tests), dist/ (the CLI) and build/js/src/ (the test bed), and /opt/xlb in the image.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}: xlb is not installed as built`);
    dir = up;
  }
  return dir;
}

export const INSTALL_ROOT = findRoot();
