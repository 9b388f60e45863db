// Package api is Fusionize's shared vocabulary: the types every other
// package speaks, with nothing behind them. It imports only the standard
// library and its own subpackages (api/manifest adds a YAML parser for the
// file it describes), and every package of the module may import it; so a host, a runtime, the control plane's client and the fuser
// agree on one type per concept without linking each other.
//
//	api/          Endpoint (how a deployed group is invoked), HostInfo,
//	              ModuleInfo, Iteration
//	api/setup     fusion setups: groups, places, memory sizes
//	api/span      the record of one task invocation, and its validation
//	api/manifest  an application's fusionize.yaml
//	api/rtt       the round trips between places (emulated figures), shared
//	              by the optimizer's model and the emulators
//
// An adapter returns an Endpoint per deployed group; the deployer records
// the endpoints of a setup version before it makes the version active, and
// every route a host or client takes comes from them:
//
//	ep := api.Endpoint{Kind: api.KindGRPC, Address: "127.0.0.1:9001"}
//	if err := ep.Validate(); err != nil { ... }
package api
