package gcf

import (
	"fmt"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// operation is one long-running operation; its proto is replaced, never
// mutated, so a snapshot handed to a client stays consistent.
type operation struct {
	pb *longrunningpb.Operation
}

// newOperation registers a running operation on target; e.mu must be held.
func (e *Emulator) newOperation(target FunctionName, verb string, typ functionspb.OperationType, req proto.Message) *operation {
	e.opSeq++
	name := fmt.Sprintf("%s/operations/operation-%d-%d", target.Parent(), time.Now().UnixNano()/1e6, e.opSeq)
	md := &functionspb.OperationMetadata{
		CreateTime:    timestamppb.Now(),
		Target:        target.String(),
		Verb:          verb,
		ApiVersion:    "v2",
		OperationType: typ,
		Stages: []*functionspb.Stage{
			{Name: functionspb.Stage_BUILD, State: functionspb.Stage_NOT_STARTED},
			{Name: functionspb.Stage_SERVICE, State: functionspb.Stage_NOT_STARTED},
		},
	}
	if req != nil {
		md.RequestResource, _ = anypb.New(req)
	}
	mdAny, _ := anypb.New(md)
	op := &operation{pb: &longrunningpb.Operation{Name: name, Metadata: mdAny}}
	e.operations[name] = op
	return op
}

// setStage records a stage's progress in the operation's metadata.
func (e *Emulator) setStage(op *operation, stage functionspb.Stage_Name, state functionspb.Stage_State, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pb := proto.Clone(op.pb).(*longrunningpb.Operation)
	md := &functionspb.OperationMetadata{}
	if err := pb.Metadata.UnmarshalTo(md); err != nil {
		return
	}
	for _, s := range md.Stages {
		if s.Name == stage {
			s.State, s.Message = state, msg
		}
	}
	pb.Metadata, _ = anypb.New(md)
	op.pb = pb
}

// finish marks the operation done with result (a Function or Empty) or, when
// code is not OK, with an error status.
func (e *Emulator) finish(op *operation, result proto.Message, code codes.Code, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pb := proto.Clone(op.pb).(*longrunningpb.Operation)
	md := &functionspb.OperationMetadata{}
	if err := pb.Metadata.UnmarshalTo(md); err == nil {
		md.EndTime = timestamppb.Now()
		if code != codes.OK {
			md.StatusDetail = msg
		}
		pb.Metadata, _ = anypb.New(md)
	}
	pb.Done = true
	if code != codes.OK {
		pb.Result = &longrunningpb.Operation_Error{Error: &statuspb.Status{Code: int32(code), Message: msg}}
	} else {
		a, err := anypb.New(result)
		if err != nil {
			pb.Result = &longrunningpb.Operation_Error{Error: &statuspb.Status{Code: int32(codes.Internal), Message: err.Error()}}
		} else {
			pb.Result = &longrunningpb.Operation_Response{Response: a}
		}
	}
	op.pb = pb
}
