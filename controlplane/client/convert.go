package client

import (
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Conversions between the wire types of package fusionizev1 and the Go types
// the rest of Fusionize works with. Every function accepts nil and returns
// the zero value (or nil) for it, so callers need not check optional fields.

// SetupToProto converts a setup to its wire form; nil gives nil.
func SetupToProto(s *setup.Setup) *fusionizev1.Setup {
	if s == nil {
		return nil
	}
	p := &fusionizev1.Setup{Version: s.Version, Groups: make([]*fusionizev1.Group, len(s.Groups))}
	for i := range s.Groups {
		p.Groups[i] = GroupToProto(&s.Groups[i])
	}
	return p
}

// SetupFromProto converts a wire setup; nil gives nil. The result shares
// nothing with p.
func SetupFromProto(p *fusionizev1.Setup) *setup.Setup {
	if p == nil {
		return nil
	}
	s := &setup.Setup{Version: p.GetVersion(), Groups: make([]setup.Group, len(p.GetGroups()))}
	for i, g := range p.GetGroups() {
		s.Groups[i] = GroupFromProto(g)
	}
	return s
}

// GroupToProto converts one fusion group; nil gives nil.
func GroupToProto(g *setup.Group) *fusionizev1.Group {
	if g == nil {
		return nil
	}
	return &fusionizev1.Group{
		Name:     g.Name,
		Tasks:    append([]string(nil), g.Tasks...),
		MemoryMb: int32(g.MemoryMB),
		Place:    &fusionizev1.Place{Provider: g.Place.Provider, Region: g.Place.Region, Arch: g.Place.Arch},
		Fusion:   g.Fusion,
	}
}

// GroupFromProto converts one wire group; nil gives the zero Group.
func GroupFromProto(p *fusionizev1.Group) setup.Group {
	if p == nil {
		return setup.Group{}
	}
	pl := p.GetPlace()
	return setup.Group{
		Name:     p.GetName(),
		Tasks:    append([]string(nil), p.GetTasks()...),
		MemoryMB: int(p.GetMemoryMb()),
		Place:    setup.Place{Provider: pl.GetProvider(), Region: pl.GetRegion(), Arch: pl.GetArch()},
		Fusion:   p.GetFusion(),
	}
}

// SpanToProto converts a span to its wire form; nil gives nil. A zero Start
// becomes an unset timestamp.
func SpanToProto(s *span.Span) *fusionizev1.Span {
	if s == nil {
		return nil
	}
	p := &fusionizev1.Span{
		TraceId:      s.TraceID,
		Id:           s.ID,
		ParentId:     s.ParentID,
		Caller:       s.Caller,
		Task:         s.Task,
		Async:        s.Async,
		Remote:       s.Remote,
		Group:        s.Group,
		Host:         s.Host,
		SetupVersion: s.SetupVersion,
		Duration:     durationpb.New(s.Duration),
		Wait:         durationpb.New(s.Wait),
		Billed:       durationpb.New(s.Billed),
		MemoryMb:     int32(s.MemoryMB),
		Cold:         s.Cold,
		InputBytes:   int64(s.InputBytes),
		OutputBytes:  int64(s.OutputBytes),
		Err:          s.Err,
		Count:        int64(s.Count),
	}
	if s.CPU > 0 {
		p.Cpu = durationpb.New(s.CPU)
	}
	if !s.Start.IsZero() {
		p.Start = timestamppb.New(s.Start)
	}
	return p
}

// SpanFromProto converts a wire span; nil gives the zero Span. Unset
// durations are 0 and an unset start is the zero time.
func SpanFromProto(p *fusionizev1.Span) span.Span {
	if p == nil {
		return span.Span{}
	}
	return span.Span{
		TraceID:      p.GetTraceId(),
		ID:           p.GetId(),
		ParentID:     p.GetParentId(),
		Caller:       p.GetCaller(),
		Task:         p.GetTask(),
		Async:        p.GetAsync(),
		Remote:       p.GetRemote(),
		Group:        p.GetGroup(),
		Host:         p.GetHost(),
		SetupVersion: p.GetSetupVersion(),
		Start:        timeFromProto(p.GetStart()),
		Duration:     durationFromProto(p.GetDuration()),
		Wait:         durationFromProto(p.GetWait()),
		Billed:       durationFromProto(p.GetBilled()),
		MemoryMB:     int(p.GetMemoryMb()),
		Cold:         p.GetCold(),
		InputBytes:   int(p.GetInputBytes()),
		OutputBytes:  int(p.GetOutputBytes()),
		Err:          p.GetErr(),
		Count:        int(p.GetCount()),
		CPU:          durationFromProto(p.GetCpu()),
	}
}

// ModuleInfoToProto converts a stored module's description.
func ModuleInfoToProto(m api.ModuleInfo) *fusionizev1.ModuleInfo {
	p := &fusionizev1.ModuleInfo{Task: m.Task, Digest: m.Digest, Size: m.Size, Tasks: m.Tasks}
	if !m.UploadedAt.IsZero() {
		p.UploadedAt = timestamppb.New(m.UploadedAt)
	}
	return p
}

// ModuleInfoFromProto converts a wire module description; nil gives the
// zero api.ModuleInfo.
func ModuleInfoFromProto(p *fusionizev1.ModuleInfo) api.ModuleInfo {
	if p == nil {
		return api.ModuleInfo{}
	}
	return api.ModuleInfo{Task: p.GetTask(), Digest: p.GetDigest(), Size: p.GetSize(), UploadedAt: timeFromProto(p.GetUploadedAt()), Tasks: p.GetTasks()}
}

// HostToProto converts a host registration.
func HostToProto(h api.HostInfo) *fusionizev1.HostInfo {
	return &fusionizev1.HostInfo{
		Name:         h.Name,
		Group:        h.Group,
		Address:      h.Address,
		SetupVersion: h.SetupVersion,
		Tasks:        append([]string(nil), h.Tasks...),

		MetricsAddress: h.MetricsAddress,
	}
}

// HostFromProto converts a wire host registration; nil gives the zero
// api.HostInfo.
func HostFromProto(p *fusionizev1.HostInfo) api.HostInfo {
	if p == nil {
		return api.HostInfo{}
	}
	return api.HostInfo{
		Name:         p.GetName(),
		Group:        p.GetGroup(),
		Address:      p.GetAddress(),
		SetupVersion: p.GetSetupVersion(),
		Tasks:        append([]string(nil), p.GetTasks()...),

		MetricsAddress: p.GetMetricsAddress(),
	}
}

// IterationToProto converts one step of the optimizer's history.
func IterationToProto(it *api.Iteration) *fusionizev1.Iteration {
	if it == nil {
		return nil
	}
	p := &fusionizev1.Iteration{
		Index:             int32(it.Index),
		Setup:             SetupToProto(it.Setup),
		P50Ms:             it.P50Ms,
		P95Ms:             it.P95Ms,
		CostPerMillionUsd: it.CostPerMillionUSD,
		Decision:          it.Decision,
		Note:              it.Note,
	}
	if !it.DeployedAt.IsZero() {
		p.DeployedAt = timestamppb.New(it.DeployedAt)
	}
	if pr := it.Predicted; pr != nil {
		p.Predicted = &fusionizev1.Prediction{P50Ms: pr.P50Ms, P95Ms: pr.P95Ms, CostPerMillionUsd: pr.CostPerMillionUSD, Confidence: pr.Confidence}
	}
	return p
}

// IterationFromProto converts a wire iteration; nil gives the zero api.Iteration.
func IterationFromProto(p *fusionizev1.Iteration) api.Iteration {
	if p == nil {
		return api.Iteration{}
	}
	var pred *api.Prediction
	if pr := p.GetPredicted(); pr != nil {
		pred = &api.Prediction{P50Ms: pr.GetP50Ms(), P95Ms: pr.GetP95Ms(), CostPerMillionUSD: pr.GetCostPerMillionUsd(), Confidence: pr.GetConfidence()}
	}
	return api.Iteration{
		Predicted:         pred,
		Index:             int(p.GetIndex()),
		Setup:             SetupFromProto(p.GetSetup()),
		P50Ms:             p.GetP50Ms(),
		P95Ms:             p.GetP95Ms(),
		CostPerMillionUSD: p.GetCostPerMillionUsd(),
		Decision:          p.GetDecision(),
		Note:              p.GetNote(),
		DeployedAt:        timeFromProto(p.GetDeployedAt()),
	}
}

// StatusFromProto converts a Status response.
func StatusFromProto(p *fusionizev1.StatusResponse) Status {
	return Status{
		App:          p.GetApp(),
		SetupVersion: p.GetSetupVersion(),
		Modules:      p.GetModules(),
		Hosts:        p.GetHosts(),
		Spans:        p.GetSpans(),

		ActiveVersion: p.GetActiveSetupVersion(),
		FailedVersion: p.GetFailedSetupVersion(),
		DeployError:   p.GetDeployError(),
	}
}

func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func durationFromProto(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

// Status summarizes a control plane.
type Status struct {
	App          string // application name
	SetupVersion int64  // current setup version, 0 before the first apply
	Modules      int64  // stored modules (latest per task)
	Hosts        int64  // hosts seen within the liveness window
	Spans        int64  // stored spans
	// ActiveVersion is the setup version serving client requests, 0
	// before the first deployment.
	ActiveVersion int64
	// FailedVersion is the latest setup version that failed to deploy (0:
	// none), and DeployError why; the active version kept serving.
	FailedVersion int64
	DeployError   string
}

// EndpointToProto converts an endpoint to its wire form.
func EndpointToProto(e api.Endpoint) *fusionizev1.Endpoint {
	return &fusionizev1.Endpoint{
		Kind: e.Kind, Address: e.Address,
		FunctionName: e.FunctionName, Qualifier: e.Qualifier, Region: e.Region, ApiEndpoint: e.APIEndpoint,
		Url: e.URL,
	}
}

// EndpointFromProto converts a wire endpoint; nil gives the zero Endpoint.
func EndpointFromProto(p *fusionizev1.Endpoint) api.Endpoint {
	return api.Endpoint{
		Kind: p.GetKind(), Address: p.GetAddress(),
		FunctionName: p.GetFunctionName(), Qualifier: p.GetQualifier(), Region: p.GetRegion(), APIEndpoint: p.GetApiEndpoint(),
		URL: p.GetUrl(),
	}
}

// EndpointsToProto converts a routing table; nil or empty gives nil.
func EndpointsToProto(eps api.Endpoints) map[string]*fusionizev1.Endpoint {
	if len(eps) == 0 {
		return nil
	}
	out := make(map[string]*fusionizev1.Endpoint, len(eps))
	for g, e := range eps {
		out[g] = EndpointToProto(e)
	}
	return out
}

// EndpointsFromProto converts a wire routing table; it never returns nil.
func EndpointsFromProto(m map[string]*fusionizev1.Endpoint) api.Endpoints {
	out := make(api.Endpoints, len(m))
	for g, e := range m {
		out[g] = EndpointFromProto(e)
	}
	return out
}
