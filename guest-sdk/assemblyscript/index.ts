// The package's entry for AssemblyScript's package resolution, which looks
// for index.ts at the package's root: the SDK is assembly/index.ts.
export * from "./assembly/index";
