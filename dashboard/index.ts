// The dashboard component's public surface: the server, and the feeds it is built from.
export { DashboardServer, publicDir, defaultManifestsDir, type DashboardOptions } from './server.js';
export {
  StoreFeed,
  ERR_COMPACTED,
  ERR_FUTURE_REV,
  type MemberStatus,
  type StoreEvent,
  type TimeTravel,
} from './storefeed.js';
export { KubeFeed, type View, type WorkloadKind } from './kubefeed.js';
export { applyManifest, parseManifest, ManifestError, type ApplyResult } from './apply.js';
export { ControlClient, type Component } from './control.js';
