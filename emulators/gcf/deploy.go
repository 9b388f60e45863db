package gcf

import (
	"fmt"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// goDeploy builds (when rebuild) and deploys fn as a new revision of f in the
// background and finishes op; e.mu must be held.
func (e *Emulator) goDeploy(op *operation, f *function, fn *functionspb.Function, cfg config, rebuild bool) {
	f.gen++
	gen, prev := f.gen, f.serving
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.deploy(op, f, cfg, gen, rebuild, prev)
	}()
}

func (e *Emulator) deploy(op *operation, f *function, cfg config, gen int, rebuild bool, prev *revision) {
	rev := &revision{name: revisionName(f.name.ID, gen), function: f.name, config: cfg}
	if rebuild || prev == nil {
		e.setStage(op, functionspb.Stage_BUILD, functionspb.Stage_IN_PROGRESS, "Building")
		b, err := e.build(e.ctx, f.name, rev.name, cfg)
		if err != nil {
			e.setStage(op, functionspb.Stage_BUILD, functionspb.Stage_COMPLETE, "Build failed")
			log := "(no log)"
			if b != nil {
				log = trimLog(b.log, maxLogBytes)
			}
			e.fail(op, f, "BuildFailed", fmt.Sprintf("Build failed with status: FAILURE and message: %s", log))
			return
		}
		rev.build = b
		e.setStage(op, functionspb.Stage_BUILD, functionspb.Stage_COMPLETE, "Build finished")
	} else {
		rev.build = prev.build
	}
	e.setStage(op, functionspb.Stage_SERVICE, functionspb.Stage_IN_PROGRESS, "Creating Cloud Run service revision "+rev.name)
	p, err := e.newPool(rev)
	if err != nil {
		e.fail(op, f, "ServiceFailed", err.Error())
		return
	}
	rev.pool = p
	if err := p.probe(e.ctx); err != nil {
		_ = p.close(e.ctx)
		e.fail(op, f, "ServiceFailed", fmt.Sprintf("Could not create or update Cloud Run service %s, Container Healthcheck failed. Revision '%s' is not ready and cannot serve traffic. %v", f.name.ID, rev.name, err))
		return
	}
	e.setStage(op, functionspb.Stage_SERVICE, functionspb.Stage_COMPLETE, "Revision "+rev.name+" is serving")
	url := e.functionURL(f.name)
	e.mu.Lock()
	pb := proto.Clone(f.pb).(*functionspb.Function)
	pb.State, pb.StateMessages, pb.UpdateTime = functionspb.Function_ACTIVE, nil, timestamppb.New(time.Now())
	pb.Url = url
	pb.ServiceConfig.Uri, pb.ServiceConfig.Revision = pb.Url, rev.name
	pb.BuildConfig.Build = "projects/" + f.name.Project + "/locations/" + f.name.Location + "/builds/" + rev.build.name
	f.pb, f.serving, f.busy = pb, rev, false
	result := proto.Clone(pb)
	e.mu.Unlock()
	e.finish(op, result, codes.OK, "")
	if prev != nil && prev.pool != nil {
		prev.pool.drain(e.ctx)
	}
}

// fail leaves f FAILED with msg (the previous revision, if any, keeps
// serving) and finishes op with the error.
func (e *Emulator) fail(op *operation, f *function, kind, msg string) {
	e.mu.Lock()
	pb := proto.Clone(f.pb).(*functionspb.Function)
	pb.State, pb.UpdateTime = functionspb.Function_FAILED, timestamppb.Now()
	pb.StateMessages = []*functionspb.StateMessage{{Severity: functionspb.StateMessage_ERROR, Type: kind, Message: msg}}
	f.pb, f.busy = pb, false
	e.mu.Unlock()
	e.log.Warn("gcf: deploy failed", "function", f.name.String(), "kind", kind)
	e.finish(op, nil, codes.InvalidArgument, msg)
}

// reap reclaims idle instances after the keep-alive until Close.
func (e *Emulator) reap() {
	every := min(max(e.opts.KeepAlive/4, 5*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case now := <-t.C:
			e.mu.Lock()
			pools := make([]*pool, 0, len(e.pools))
			for p := range e.pools {
				pools = append(pools, p)
			}
			e.mu.Unlock()
			for _, p := range pools {
				p.reapIdle(now, e.opts.KeepAlive)
			}
		}
	}
}
