package gcf

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// functionService is google.cloud.functions.v2.FunctionService.
type functionService struct {
	functionspb.UnimplementedFunctionServiceServer
	e *Emulator
}

// toStatus maps the emulator's errors to the codes Cloud Functions answers.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrFailedPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func (e *Emulator) checkProject(p string) error {
	if e.opts.Project != "" && p != e.opts.Project {
		return fmt.Errorf("%w: project %q is not served by this emulator (it serves %q)", ErrNotFound, p, e.opts.Project)
	}
	return nil
}

func (e *Emulator) parseName(s string) (FunctionName, error) {
	n, err := ParseFunctionName(s)
	if err != nil {
		return n, err
	}
	return n, e.checkProject(n.Project)
}

func (s *functionService) GenerateUploadUrl(ctx context.Context, req *functionspb.GenerateUploadUrlRequest) (*functionspb.GenerateUploadUrlResponse, error) {
	project, location, err := ParseParent(req.Parent)
	if err == nil {
		err = s.e.checkProject(project)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	url, ss := s.e.newUpload(project, location)
	return &functionspb.GenerateUploadUrlResponse{UploadUrl: url, StorageSource: ss}, nil
}

func (s *functionService) GetFunction(ctx context.Context, req *functionspb.GetFunctionRequest) (*functionspb.Function, error) {
	n, err := s.e.parseName(req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	f := s.e.functions[n.String()]
	if f == nil {
		return nil, toStatus(fmt.Errorf("%w: function %s", ErrNotFound, n))
	}
	return proto.Clone(f.pb).(*functionspb.Function), nil
}

func (s *functionService) ListFunctions(ctx context.Context, req *functionspb.ListFunctionsRequest) (*functionspb.ListFunctionsResponse, error) {
	project, location, err := parseListParent(req.Parent)
	if err == nil {
		err = s.e.checkProject(project)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	match, err := parseLabelFilter(req.Filter)
	if err != nil {
		return nil, toStatus(err)
	}
	after := ""
	if req.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.PageToken)
		if err != nil {
			return nil, toStatus(fmt.Errorf("%w: page_token %q", ErrInvalidArgument, req.PageToken))
		}
		after = string(b)
	}
	size := int(req.PageSize)
	if size <= 0 || size > 1000 {
		size = 1000
	}
	s.e.mu.Lock()
	var names []string
	for name, f := range s.e.functions {
		if f.name.Project == project && (location == "-" || f.name.Location == location) && name > after && match(f.pb.Labels) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	resp := &functionspb.ListFunctionsResponse{}
	for i, name := range names {
		if i == size {
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(names[i-1]))
			break
		}
		resp.Functions = append(resp.Functions, proto.Clone(s.e.functions[name].pb).(*functionspb.Function))
	}
	s.e.mu.Unlock()
	return resp, nil
}

// parseListParent accepts projects/P/locations/L with L "-" for all.
func parseListParent(s string) (string, string, error) {
	if p, ok := strings.CutSuffix(s, "/locations/-"); ok {
		project, _, err := ParseParent(p + "/locations/x")
		return project, "-", err
	}
	return ParseParent(s)
}

// parseLabelFilter understands the label part of the List filter syntax:
// `labels.k=v AND labels.k2="v2"`; an empty filter matches everything.
func parseLabelFilter(f string) (func(map[string]string) bool, error) {
	type cond struct{ k, v string }
	var conds []cond
	if strings.TrimSpace(f) != "" {
		for _, term := range strings.Split(f, " AND ") {
			k, v, ok := strings.Cut(strings.TrimSpace(term), "=")
			k, found := strings.CutPrefix(strings.TrimSpace(k), "labels.")
			if !ok || !found || k == "" {
				return nil, fmt.Errorf("%w: filter %q: the emulator filters only by labels.KEY=VALUE joined by AND", ErrInvalidArgument, f)
			}
			v = strings.TrimSpace(v)
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			conds = append(conds, cond{k, v})
		}
	}
	return func(labels map[string]string) bool {
		for _, c := range conds {
			if labels[c.k] != c.v {
				return false
			}
		}
		return true
	}, nil
}

func (s *functionService) CreateFunction(ctx context.Context, req *functionspb.CreateFunctionRequest) (*longrunningpb.Operation, error) {
	e := s.e
	if req.Function == nil {
		return nil, toStatus(fmt.Errorf("%w: function is required", ErrInvalidArgument))
	}
	id := req.FunctionId
	if id == "" {
		if n, err := ParseFunctionName(req.Function.Name); err == nil {
			id = n.ID
		}
	}
	project, location, err := ParseParent(req.Parent)
	if err == nil {
		err = e.checkProject(project)
	}
	if err == nil {
		err = CheckFunctionID(id)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	name := FunctionName{project, location, id}
	fn, cfg, err := e.normalize(name, req.Function)
	if err != nil {
		return nil, toStatus(err)
	}
	now := timestamppb.Now()
	fn.CreateTime, fn.UpdateTime, fn.State = now, now, functionspb.Function_DEPLOYING

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, toStatus(ErrClosed)
	}
	if e.functions[name.String()] != nil {
		return nil, toStatus(fmt.Errorf("%w: function %s", ErrAlreadyExists, name))
	}
	f := &function{name: name, pb: fn, busy: true}
	e.functions[name.String()] = f
	op := e.newOperation(name, "create", functionspb.OperationType_CREATE_FUNCTION, fn)
	e.goDeploy(op, f, fn, cfg, true)
	return proto.Clone(op.pb).(*longrunningpb.Operation), nil
}

func (s *functionService) UpdateFunction(ctx context.Context, req *functionspb.UpdateFunctionRequest) (*longrunningpb.Operation, error) {
	e := s.e
	if req.Function == nil {
		return nil, toStatus(fmt.Errorf("%w: function is required", ErrInvalidArgument))
	}
	name, err := e.parseName(req.Function.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	paths := req.GetUpdateMask().GetPaths()
	e.mu.Lock()
	f := e.functions[name.String()]
	var cur *functionspb.Function
	if f != nil {
		cur = f.pb
	}
	e.mu.Unlock()
	if f == nil {
		return nil, toStatus(fmt.Errorf("%w: function %s", ErrNotFound, name))
	}
	merged, err := applyMask(cur, req.Function, paths)
	if err != nil {
		return nil, toStatus(fmt.Errorf("function %s: %w", name, err))
	}
	fn, cfg, err := e.normalize(name, merged)
	if err != nil {
		return nil, toStatus(err)
	}
	rebuild := len(paths) == 0
	for _, p := range paths {
		rebuild = rebuild || p == "build_config" || strings.HasPrefix(p, "build_config.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, toStatus(ErrClosed)
	}
	if e.functions[name.String()] != f {
		return nil, toStatus(fmt.Errorf("%w: function %s", ErrNotFound, name))
	}
	if f.busy {
		return nil, toStatus(fmt.Errorf("%w: function %s has an operation in progress", ErrFailedPrecondition, name))
	}
	fn.CreateTime, fn.UpdateTime, fn.State = f.pb.CreateTime, timestamppb.Now(), functionspb.Function_DEPLOYING
	if f.serving != nil {
		fn.Url, fn.ServiceConfig.Uri, fn.ServiceConfig.Revision = f.pb.Url, f.pb.ServiceConfig.GetUri(), f.pb.ServiceConfig.GetRevision()
	}
	f.pb, f.busy = fn, true
	op := e.newOperation(name, "update", functionspb.OperationType_UPDATE_FUNCTION, fn)
	e.goDeploy(op, f, fn, cfg, rebuild || f.serving == nil)
	return proto.Clone(op.pb).(*longrunningpb.Operation), nil
}

// applyMask copies the masked fields (snake_case paths) of upd onto a copy
// of cur; with no paths every field of upd replaces cur's.
func applyMask(cur, upd *functionspb.Function, paths []string) (*functionspb.Function, error) {
	if len(paths) == 0 {
		out := proto.Clone(upd).(*functionspb.Function)
		out.Name = cur.Name
		return out, nil
	}
	for _, p := range paths {
		md := cur.ProtoReflect().Descriptor()
		for i, part := range strings.Split(p, ".") {
			var fd protoreflect.FieldDescriptor
			if md != nil {
				fd = md.Fields().ByName(protoreflect.Name(part))
			}
			if fd == nil || part == "name" && i == 0 {
				return nil, fmt.Errorf("%w: update_mask path %q is not an updatable field of Function", ErrInvalidArgument, p)
			}
			md = fd.Message()
			if fd.IsList() || fd.IsMap() {
				md = nil
			}
		}
	}
	out := proto.Clone(cur).(*functionspb.Function)
	for _, p := range paths {
		dst, src := out.ProtoReflect(), upd.ProtoReflect()
		parts := strings.Split(p, ".")
		for i, part := range parts {
			fd := dst.Descriptor().Fields().ByName(protoreflect.Name(part))
			if i == len(parts)-1 {
				if src.Has(fd) {
					dst.Set(fd, src.Get(fd))
				} else {
					dst.Clear(fd)
				}
				break
			}
			if !src.Has(fd) {
				dst.Clear(fd)
				break
			}
			dst, src = dst.Mutable(fd).Message(), src.Get(fd).Message()
		}
	}
	return out, nil
}

func (s *functionService) DeleteFunction(ctx context.Context, req *functionspb.DeleteFunctionRequest) (*longrunningpb.Operation, error) {
	e := s.e
	name, err := e.parseName(req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.functions[name.String()]
	if f == nil {
		return nil, toStatus(fmt.Errorf("%w: function %s", ErrNotFound, name))
	}
	if f.busy {
		return nil, toStatus(fmt.Errorf("%w: function %s has an operation in progress", ErrFailedPrecondition, name))
	}
	op := e.newOperation(name, "delete", functionspb.OperationType_DELETE_FUNCTION, nil)
	delete(e.functions, name.String())
	var p *pool
	if f.serving != nil {
		p = f.serving.pool
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if p != nil {
			p.drain(e.ctx)
		}
		e.finish(op, &emptypb.Empty{}, codes.OK, "")
	}()
	return proto.Clone(op.pb).(*longrunningpb.Operation), nil
}

// operationsService is google.longrunning.Operations for the operations above.
type operationsService struct {
	longrunningpb.UnimplementedOperationsServer
	e *Emulator
}

func (s *operationsService) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	op := s.e.operations[req.Name]
	if op == nil {
		return nil, status.Errorf(codes.NotFound, "operation %s not found", req.Name)
	}
	return proto.Clone(op.pb).(*longrunningpb.Operation), nil
}

func (s *operationsService) ListOperations(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	if req.Filter != "" {
		return nil, status.Errorf(codes.InvalidArgument, "operations filter %q is not emulated", req.Filter)
	}
	prefix := strings.TrimSuffix(req.Name, "/operations") + "/operations/"
	after := ""
	if req.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.PageToken)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "page_token %q", req.PageToken)
		}
		after = string(b)
	}
	size := int(req.PageSize)
	if size <= 0 || size > 1000 {
		size = 1000
	}
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	var names []string
	for n := range s.e.operations {
		if strings.HasPrefix(n, prefix) && n > after {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	resp := &longrunningpb.ListOperationsResponse{}
	for i, n := range names {
		if i == size {
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(names[i-1]))
			break
		}
		resp.Operations = append(resp.Operations, proto.Clone(s.e.operations[n].pb).(*longrunningpb.Operation))
	}
	return resp, nil
}

func (s *operationsService) DeleteOperation(ctx context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	if s.e.operations[req.Name] == nil {
		return nil, status.Errorf(codes.NotFound, "operation %s not found", req.Name)
	}
	delete(s.e.operations, req.Name)
	return &emptypb.Empty{}, nil
}
