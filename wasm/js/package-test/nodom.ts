// Type-checked like types.ts, without the DOM lib (Node's types only): the
// entries' own types need no DOM and no WebAssembly declarations.
import { Implicit } from '@implicitlab/implicit';
import { compile, instantiate, load } from '@implicitlab/implicit/node';

const wasmModule: WebAssembly.Module = await compile();
const im: Implicit = await instantiate(wasmModule);
const again: Implicit = await load(new URL('./node_modules/@implicitlab/implicit/implicit.wasm', import.meta.url));
console.log(im.load(new Uint8Array(0)).info.kind, again.x.memory.buffer.byteLength);
