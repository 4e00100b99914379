// How Raft messages leave this member. A single-member cluster sends nothing; the peer transport
// (store/server/peer: framed TCP connections between --listen-peer-urls) implements this for clusters.
import type { Message, NodeId } from '../raft/index.js';

export interface Transport {
  /** Hands messages to the network; must not block. Undeliverable messages are reported, not thrown. */
  send(messages: Message[]): void;
  /** Peers this transport can reach. */
  addPeer(id: NodeId, urls: string[]): void;
  removePeer(id: NodeId): void;
  close(): Promise<void>;
}

/** The transport of a one-member cluster: Raft never addresses anyone else, so anything sent is a bug. */
export class NoPeersTransport implements Transport {
  constructor(private readonly self: NodeId) {}

  send(messages: Message[]): void {
    for (const m of messages) {
      if (m.to !== this.self) {
        throw new Error(`raft: message ${m.type} to ${m.to} but this member has no peers`);
      }
    }
  }

  addPeer(id: NodeId): void {
    throw new Error(`peer transport is not available yet (cannot add ${id})`);
  }

  removePeer(): void {}

  async close(): Promise<void> {}
}
