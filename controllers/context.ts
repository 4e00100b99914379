// What every controller is built from: an API client, the shared informers, an event recorder and a logger.
import type { KubeClient } from '../apimachinery/client.js';
import type { Logger } from '../common/index.js';
import type { EventRecorder } from './events.js';
import type { SharedInformerFactory } from './informer.js';

export interface ControllerContext {
  client: KubeClient;
  informers: SharedInformerFactory;
  recorder: EventRecorder;
  logger: Logger;
}

/** A reconcile loop: handlers registered in the constructor, `run` processes the queue until stop(). */
export interface Controller {
  readonly name: string;
  run(workers: number): Promise<void>;
  stop(): void;
}

/** Runs `fn` over items with at most `limit` in flight; resolves with the results in order. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
