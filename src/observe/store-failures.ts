import type { Store } from "../store/types.js";

/**
 * The store, with every failed call counted by operation (`failed("getChunks")`): an outage, a
 * timeout, corrupt data, a full disk. Counted here, at the edge, so that no backend knows about
 * metrics. A Proxy rather than a class that forwards each method by hand: the Store API grows
 * (a backend's new call is forwarded and counted without a line here), and every call, a scan's
 * iteration included, goes through one place. Methods run on the store itself, so its private
 * fields and getters work as before.
 */
export function countingFailures(store: Store, failed: (operation: string) => void): Store {
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      const operation = String(property);
      return (...args: unknown[]): unknown => {
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (error) {
          failed(operation);
          throw error;
        }
        if (result instanceof Promise) {
          return result.catch((error: unknown) => {
            failed(operation);
            throw error;
          });
        }
        if (isAsyncIterable(result)) return countedIteration(result, () => failed(operation));
        return result;
      };
    },
  });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === "function";
}

async function* countedIteration<T>(iterable: AsyncIterable<T>, failed: () => void): AsyncGenerator<T> {
  try {
    yield* iterable;
  } catch (error) {
    failed();
    throw error;
  }
}
