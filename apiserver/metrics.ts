// Prometheus metrics at /metrics, named as kube-apiserver names them: requests by verb, resource and
// code, request latency, open watches, objects per resource and watch events sent.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface CacheStats {
  resource: string;
  objects: number;
  watchers: number;
  eventsSent: number;
}

export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'verb' | 'resource' | 'code'>;
  private readonly latency: Histogram<'verb' | 'resource'>;

  constructor(stats: () => CacheStats[]) {
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'apiserver_request_total',
      help: 'Requests by verb, resource and HTTP code.',
      labelNames: ['verb', 'resource', 'code'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Latency of non-watch requests by verb and resource.',
      labelNames: ['verb', 'resource'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Open watches by resource.',
      labelNames: ['verb', 'resource'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of stats()) this.set({ verb: 'WATCH', resource: s.resource }, s.watchers);
      },
    });
    new Gauge({
      name: 'apiserver_storage_objects',
      help: 'Objects per resource, as seen by this apiserver’s watch cache.',
      labelNames: ['resource'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of stats()) this.set({ resource: s.resource }, s.objects);
      },
    });
    new Gauge({
      name: 'apiserver_watch_events_sent_total',
      help: 'Watch events sent to clients by resource (one store event fans out to many).',
      labelNames: ['resource'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of stats()) this.set({ resource: s.resource }, s.eventsSent);
      },
    });
  }

  observe(verb: string, resource: string, code: number, seconds: number | null): void {
    this.requests.inc({ verb, resource, code: String(code) });
    if (seconds !== null) this.latency.observe({ verb, resource }, seconds);
  }
}
