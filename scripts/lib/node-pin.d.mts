// Types of node-pin.mjs (plain JS: scripts/ensure-deps.mjs runs before any TypeScript tooling exists).
export const NODE_PACKAGE: string;
export function pinnedNodeVersion(root: string): string | undefined;
export function pinFitsPlatform(): boolean;
export function bootstrapNodeBin(root: string, say: (m: string) => void): string | undefined;
export function nodeOnPath(env?: NodeJS.ProcessEnv): string | undefined;
