// The baseline for the submit benchmark, run as its own process: a bare Fastify app with the one
// route, parsing the same JSON body and answering as POST /api/v1/stories does, with no checks, no
// text tools and no database. What it reaches is what the network stack, Node and Fastify allow on
// this machine; the app's figure is read as a share of it.
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 1_048_576 });
app.post('/api/v1/stories', async (_req, reply) => reply.code(201).send({ id: randomUUID(), moderation: 'pending' }));
await app.listen({ port: 0, host: '127.0.0.1' });
const { port } = app.server.address() as { port: number };
console.log(`baseline listening on ${port}`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
