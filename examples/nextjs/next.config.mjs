import { fileURLToPath } from 'node:url';

// `edgepg` is installed from `file:../../js`, which npm links as a symlink to a folder outside
// this app. Turbopack (and output file tracing) only read files under their root, so the root
// is the repository: that takes in both this app and the linked package. An app that installs
// edgepg from the registry needs none of this.
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  turbopack: { root: repoRoot },
  outputFileTracingRoot: repoRoot,
};

export default nextConfig;
