// Started parts, stopped in reverse order: the seed's and a tab's swarm client's (the libp2p node
// is started first and stops last). A start that fails halfway stops what it had started.

/** A started part: a node, a server, a service, anything holding a port or a timer. */
export interface Stoppable {
  stop(): void | Promise<void>;
}

export interface StartedParts {
  /** Records `part` as started; returns it. */
  add<T extends Stoppable>(part: T): T;
  /** Stops every part, newest first, each even if an earlier stop failed; then throws the first failure. */
  stop(): Promise<void>;
}

export function startedParts(): StartedParts {
  const parts: Stoppable[] = [];
  return {
    add(part) {
      parts.push(part);
      return part;
    },
    async stop() {
      const failures: unknown[] = [];
      for (const part of parts.splice(0).reverse()) {
        try {
          await part.stop();
        } catch (e) {
          failures.push(e);
        }
      }
      if (failures.length > 0) throw failures[0];
    },
  };
}
