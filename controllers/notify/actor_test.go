package notify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// rollout builds an unstructured Rollout.
func rollout(namespace, name string, annotations map[string]string, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(RolloutGVK)
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetAnnotations(annotations)
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

// withSteps gives u a canary strategy of n steps.
func withSteps(u *unstructured.Unstructured, n int) *unstructured.Unstructured {
	steps := make([]any, n)
	for i := range steps {
		steps[i] = map[string]any{"weight": int64(10 * (i + 1))}
	}
	u.Object["spec"] = map[string]any{"strategy": map[string]any{"canary": map[string]any{"steps": steps}}}
	return u
}

// live is shop/web at generation 3, waiting for approval at step 2 of 3
// with 10% on canary web-00002.
func live() *unstructured.Unstructured {
	u := withSteps(rollout("shop", "web", nil, map[string]any{
		"phase": "Progressing", "currentStepIndex": int64(1), "canaryWeight": int64(10), "message": "Waiting for approval",
		"canaryRevision": "web-00002", "stableRevision": "web-00001",
	}), 3)
	u.SetGeneration(3)
	return u
}

// finished is shop/web at generation 3 once web-00002 has all the traffic.
func finished() *unstructured.Unstructured {
	u := withSteps(rollout("shop", "web", nil, map[string]any{
		"phase": "Healthy", "canaryWeight": int64(0), "stableRevision": "web-00002", "message": "Revision web-00002 has all the traffic",
	}), 3)
	u.SetGeneration(3)
	return u
}

func withRun(a Action, generation int64, canary string) Action {
	a.Run = &Run{Generation: generation, CanaryRevision: canary}
	return a
}

func fakeClient(funcs *interceptor.Funcs, objs ...client.Object) client.Client {
	scheme := runtime.NewScheme()
	scheme.AddKnownTypeWithName(RolloutGVK, &unstructured.Unstructured{})
	scheme.AddKnownTypeWithName(RolloutGVK.GroupVersion().WithKind("RolloutList"), &unstructured.UnstructuredList{})
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}

func TestRolloutActorAct(t *testing.T) {
	approve := Action{Namespace: "shop", Rollout: "web", Verb: VerbApprove, ID: "approve-0123456789abcdef", User: "U1"}
	tests := map[string]struct {
		existing        *unstructured.Unstructured
		action          Action
		funcs           *interceptor.Funcs
		wantMsg         string
		wantErr         error
		wantErrText     string
		wantAnnotations map[string]string
		wantPatches     int
	}{
		"annotates the rollout": {
			existing: rollout("shop", "web", map[string]string{"team": "shop"}, nil),
			action:   approve,
			wantMsg:  "Approve requested for rollout shop/web",
			wantAnnotations: map[string]string{
				"team":             "shop",
				AnnotationAction:   VerbApprove,
				AnnotationActionID: "approve-0123456789abcdef",
				AnnotationActionBy: "slack:U1",
			},
			wantPatches: 1,
		},
		"replaces an earlier action": {
			existing: rollout("shop", "web", map[string]string{
				AnnotationAction: VerbAbort, AnnotationActionID: "abort-1", AnnotationActionBy: "slack:U2",
			}, nil),
			action:  approve,
			wantMsg: "Approve requested for rollout shop/web",
			wantAnnotations: map[string]string{
				AnnotationAction: VerbApprove, AnnotationActionID: "approve-0123456789abcdef", AnnotationActionBy: "slack:U1",
			},
			wantPatches: 1,
		},
		"same ID again does not patch": {
			existing: rollout("shop", "web", map[string]string{
				AnnotationAction: VerbApprove, AnnotationActionID: "approve-0123456789abcdef", AnnotationActionBy: "slack:U2",
			}, nil),
			action:      approve,
			wantErr:     ErrAlreadyDone,
			wantErrText: "rollout shop/web already carries action approve-0123456789abcdef: already done",
			wantAnnotations: map[string]string{
				AnnotationAction: VerbApprove, AnnotationActionID: "approve-0123456789abcdef", AnnotationActionBy: "slack:U2",
			},
		},
		"a button of the current run records its run": {
			existing:    live(),
			action:      withRun(approve, 3, "web-00002"),
			wantMsg:     "Approve requested for rollout shop/web",
			wantPatches: 1,
			wantAnnotations: map[string]string{
				AnnotationAction: VerbApprove, AnnotationActionID: "approve-0123456789abcdef", AnnotationActionBy: "slack:U1",
				AnnotationActionRun: "approve-0123456789abcdef/3/web-00002",
			},
		},
		"a button made before the canary existed: the generation decides": {
			existing:    live(),
			action:      withRun(approve, 3, ""),
			wantMsg:     "Approve requested for rollout shop/web",
			wantPatches: 1,
			wantAnnotations: map[string]string{
				AnnotationAction: VerbApprove, AnnotationActionID: "approve-0123456789abcdef", AnnotationActionBy: "slack:U1",
				AnnotationActionRun: "approve-0123456789abcdef/3/",
			},
		},
		"a slash command clears an earlier button's run": {
			existing: func() *unstructured.Unstructured {
				u := live()
				u.SetAnnotations(map[string]string{AnnotationAction: VerbAbort, AnnotationActionID: "abort-1", AnnotationActionRun: "abort-1/2/web-00001"})
				return u
			}(),
			action:          approve,
			wantMsg:         "Approve requested for rollout shop/web",
			wantPatches:     1,
			wantAnnotations: map[string]string{AnnotationAction: VerbApprove, AnnotationActionID: "approve-0123456789abcdef", AnnotationActionBy: "slack:U1"},
		},
		"a button of an earlier generation is refused": {
			existing: live(),
			action:   withRun(approve, 2, "web-00001"),
			wantErr:  ErrStale,
			wantErrText: "this button is out of date: it was made for generation 2 of rollout shop/web (canary web-00001), which is now at generation 3 (canary web-00002). " +
				"Now: Rollout shop/web: phase Progressing, step 2 of 3, canary weight 10%, canary web-00002, stable web-00001. Waiting for approval",
		},
		"a button of a finished rollout is refused": {
			existing: finished(),
			action:   withRun(approve, 3, "web-00002"),
			wantErr:  ErrStale,
			wantErrText: "this button is out of date: it was made for the rollout of web-00002, and rollout shop/web has no canary any more. " +
				"Now: Rollout shop/web: phase Healthy, canary weight 0%, stable web-00002. Revision web-00002 has all the traffic",
		},
		"a button of another canary at the same generation is refused": {
			existing: live(),
			action:   withRun(approve, 3, "web-00001"),
			wantErr:  ErrStale,
			wantErrText: "this button is out of date: it was made for the rollout of web-00001, and rollout shop/web is rolling out web-00002. " +
				"Now: Rollout shop/web: phase Progressing, step 2 of 3, canary weight 10%, canary web-00002, stable web-00001. Waiting for approval",
		},
		"not found": {
			action:      approve,
			wantErr:     ErrNotFound,
			wantErrText: "rollout shop/web not found",
		},
		"patch fails": {
			existing: rollout("shop", "web", nil, nil),
			action:   approve,
			funcs: &interceptor.Funcs{Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
				return errors.New("etcd is down")
			}},
			wantErrText: "patching rollout shop/web: etcd is down",
		},
		"unknown verb": {
			existing:    rollout("shop", "web", nil, nil),
			action:      Action{Namespace: "shop", Rollout: "web", Verb: "delete", ID: "x"},
			wantErrText: `unknown action "delete" for rollout shop/web`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			patches := 0
			funcs := tc.funcs
			if funcs == nil {
				funcs = &interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
					patches++
					return c.Patch(ctx, obj, p, opts...)
				}}
			}
			var objs []client.Object
			if tc.existing != nil {
				objs = append(objs, tc.existing)
			}
			c := fakeClient(funcs, objs...)
			actor := &RolloutActor{Client: c}

			msg, err := actor.Act(context.Background(), tc.action)

			if tc.wantErrText != "" {
				if err == nil || err.Error() != tc.wantErrText || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("Act() = %q, %v, want error %q", msg, err, tc.wantErrText)
				}
				if patches != 0 {
					t.Errorf("%d patches after an error, want none", patches)
				}
				return
			}
			if err != nil {
				t.Fatalf("Act() = %v", err)
			}
			if msg != tc.wantMsg {
				t.Errorf("Act() = %q, want %q", msg, tc.wantMsg)
			}
			if patches != tc.wantPatches {
				t.Errorf("%d patches, want %d", patches, tc.wantPatches)
			}
			got := rollout("", "", nil, nil)
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web"}, got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantAnnotations, got.GetAnnotations()); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRolloutActorStatus(t *testing.T) {
	tests := map[string]struct {
		existing *unstructured.Unstructured
		funcs    *interceptor.Funcs
		want     string
		wantErr  string
	}{
		"canary": {
			existing: withSteps(rollout("shop", "web", nil, map[string]any{
				"phase": "Progressing", "currentStepIndex": int64(1), "canaryWeight": int64(20), "message": "Analysis passed",
				"canaryRevision": "web-00002", "stableRevision": "web-00001",
				"lastAction": map[string]any{"id": "approve-1", "action": "approve", "by": "slack:U1", "result": "Approval passed", "time": "2024-05-01T12:00:00Z"},
			}), 4),
			want: "Rollout shop/web: phase Progressing, step 2 of 4, canary weight 20%, canary web-00002, stable web-00001. Analysis passed\n" +
				"Last action: approve by slack:U1: Approval passed",
		},
		"rolling back: the traffic on its way back": {
			existing: withSteps(rollout("shop", "web", nil, map[string]any{
				"phase": "RollingBack", "currentStepIndex": int64(1), "canaryWeight": int64(0),
				"message":        "Rolling back to web-00001: at step 2/4 (weight 20%): error-rate 5% > 1%",
				"canaryRevision": "web-00002", "stableRevision": "web-00001", "transitionStartedAt": "2024-05-01T12:00:00Z",
			}), 4),
			want: "Rollout shop/web: phase RollingBack, step 2 of 4, canary weight 0%, canary web-00002, stable web-00001. Rolling back to web-00001: at step 2/4 (weight 20%): error-rate 5% > 1%",
		},
		"promoting after the last step": {
			existing: withSteps(rollout("shop", "web", nil, map[string]any{"phase": "Progressing", "currentStepIndex": int64(4), "canaryWeight": int64(100)}), 4),
			want:     "Rollout shop/web: phase Progressing, promoting, canary weight 100%",
		},
		"blue/green preview": {
			existing: func() *unstructured.Unstructured {
				u := rollout("shop", "web", nil, map[string]any{"phase": "Progressing", "currentStepIndex": int64(0), "canaryWeight": int64(0)})
				u.Object["spec"] = map[string]any{"strategy": map[string]any{"blueGreen": map[string]any{"previewTag": "preview"}}}
				return u
			}(),
			want: "Rollout shop/web: phase Progressing, step 1 of 1, canary weight 0%",
		},
		"unknown strategy": {
			existing: rollout("shop", "web", nil, map[string]any{"phase": "Paused", "currentStepIndex": int64(2)}),
			want:     "Rollout shop/web: phase Paused, step 3",
		},
		"no status": {
			existing: rollout("shop", "web", nil, nil),
			want:     "Rollout shop/web: phase unknown",
		},
		"not found": {wantErr: "rollout shop/web not found"},
		"get fails": {
			existing: rollout("shop", "web", nil, nil),
			funcs: &interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return errors.New("timeout")
			}},
			wantErr: "getting rollout shop/web: timeout",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var objs []client.Object
			if tc.existing != nil {
				objs = append(objs, tc.existing)
			}
			actor := &RolloutActor{Client: fakeClient(tc.funcs, objs...)}

			got, err := actor.Status(context.Background(), "shop", "web")

			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Status() = %q, %v, want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Status() = %v", err)
			}
			if got != tc.want {
				t.Errorf("Status() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNestedInt(t *testing.T) {
	for _, v := range []any{int64(3), 3, float64(3)} {
		if got, ok := nestedInt(map[string]any{"n": v}, "n"); !ok || got != 3 {
			t.Errorf("nestedInt(%T) = %d, %v, want 3, true", v, got, ok)
		}
	}
	if _, ok := nestedInt(map[string]any{"n": "3"}, "n"); ok {
		t.Error("nestedInt(string) ok, want not ok")
	}
}
