// Notifier (Node.js): tell the customer their order was accepted. Invoked asynchronously
// by the worker. An error fails the invocation; Lambda retries it once and then sends the
// event to the function's on-failure destination (orders-notifier-failures).
export class NotificationFailed extends Error {
  constructor(message) {
    super(message);
    this.name = "NotificationFailed";
  }
}

export const handler = async (event) => {
  if (event && event.notify_fail) {
    throw new NotificationFailed(`cannot notify for order ${event.order_id}`);
  }
  console.log(JSON.stringify({ notified: event?.order_id ?? null, trace: event?.chaoskit ?? null }));
  return { notified: true };
};
