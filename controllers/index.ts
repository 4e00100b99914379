// The controllers component's public surface: informer machinery, work queue, leader election, events,
// each controller, the scheduler and the simulated node agent.
export {
  Informer,
  SharedInformerFactory,
  keyOf,
  splitKey,
  NamespaceIndex,
  OwnerIndex,
  NodeIndex,
} from './informer.js';
export type { EventHandlers, InformerOptions, IndexFunc } from './informer.js';
export { WorkQueue, runWorkers } from './workqueue.js';
export { Backoff, ItemBackoff, backoffDelay } from './backoff.js';
export { LeaderElector, mayAcquire, nextRecord, microTime } from './leaderelection.js';
export { EventRecorder, SpamFilter } from './events.js';
export { Expectations } from './expectations.js';
export type { Controller, ControllerContext } from './context.js';
export { ReplicaSetController } from './replicaset/controller.js';
export { DeploymentController } from './deployment/controller.js';
export { GarbageCollector } from './garbagecollector/controller.js';
export { NamespaceController } from './namespace/controller.js';
export { NodeLifecycleController } from './nodelifecycle/controller.js';
export { EndpointsController } from './endpoints/controller.js';
export { Scheduler } from './scheduler/scheduler.js';
export { NodeAgent, BehaviorAnnotation } from './nodeagent/agent.js';
