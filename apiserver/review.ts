// The self-review APIs behind `kubectl auth can-i` (SelfSubjectAccessReview, and SelfSubjectRulesReview
// for `--list`) and `kubectl auth whoami` (SelfSubjectReview). This API server authenticates nobody and
// authorizes everything, so the answers say exactly that: every request is allowed, for an anonymous user.
// The reviews are answered, never stored, and they are not listed in discovery (nothing can be listed or
// read back), as in Kubernetes, where they are create-only.
import { StatusError, badRequest, invalid, invalidValue } from '../apimachinery/index.js';

type Obj = Record<string, unknown>;

const ALLOWED_REASON = 'this API server has no authorization: every request is allowed';

interface Review {
  apiVersion: string;
  kind: string;
  answer(spec: Obj): Obj;
}

const REVIEWS: Record<string, Review> = {
  '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews': {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    answer: (spec) => {
      const res = spec.resourceAttributes !== undefined;
      const non = spec.nonResourceAttributes !== undefined;
      if (res === non)
        throw new StatusError(
          invalid('SelfSubjectAccessReview', 'authorization.k8s.io', '', [
            invalidValue(
              'spec.resourceAttributes',
              spec.resourceAttributes ?? null,
              'exactly one of nonResourceAttributes or resourceAttributes must be specified',
            ),
          ]),
        );
      return { allowed: true, reason: ALLOWED_REASON };
    },
  },
  '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews': {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectRulesReview',
    answer: () => ({
      resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
      nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      incomplete: false,
    }),
  },
  '/apis/authentication.k8s.io/v1/selfsubjectreviews': {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
    answer: () => ({
      userInfo: { username: 'system:anonymous', groups: ['system:unauthenticated'] },
    }),
  },
};

/** Whether `path` is one of the self-review endpoints (POST only). */
export function isReviewPath(path: string): boolean {
  return Object.hasOwn(REVIEWS, path.replace(/\/$/, ''));
}

/** The review with its status filled in, for a decoded request body. */
export function answerReview(path: string, body: unknown): Obj {
  const r = REVIEWS[path.replace(/\/$/, '')]!;
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new StatusError(badRequest(`the body must be a ${r.apiVersion} ${r.kind}`));
  const b = body as Obj;
  if (
    (b.kind !== undefined && b.kind !== r.kind) ||
    (b.apiVersion !== undefined && b.apiVersion !== r.apiVersion)
  )
    throw new StatusError(
      badRequest(
        `the body must be a ${r.apiVersion} ${r.kind}, not ${String(b.apiVersion)} ${String(b.kind)}`,
      ),
    );
  const spec = typeof b.spec === 'object' && b.spec !== null ? (b.spec as Obj) : {};
  return {
    kind: r.kind,
    apiVersion: r.apiVersion,
    metadata: { creationTimestamp: null },
    ...(r.kind === 'SelfSubjectReview' ? {} : { spec }),
    status: r.answer(spec),
  };
}
