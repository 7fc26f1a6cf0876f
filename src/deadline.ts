/**
 * What `work` resolves to, or undefined if it has not settled within `ms`: the caller goes on
 * without it (a peer taken for one that does not answer, a body taken for a stalled one), and
 * the work itself runs on. A failure before the deadline still rejects.
 */
export async function answerWithin<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
