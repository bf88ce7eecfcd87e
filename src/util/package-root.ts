/**
 * The package's root directory (package.json, build/Release, src/status/assets) as seen from one of its
 * modules: compiled sources run from dist/src/<layer>/, the bundle that bin/ prefers (scripts/bundle.mjs)
 * from dist/bundle/.
 */
export function packageRoot(moduleUrl: string): URL {
  return new URL(/\/dist\/bundle\/[^/]*$/.test(new URL(moduleUrl).pathname) ? '../../' : '../../../', moduleUrl);
}
