// The page's shared state (one object; window.aers exposes it to tests and the console).

export const state = {
  graph: null, frame: null, socket: null, retry: 0, req: 0,
  history: [], events: [], notices: [], acks: [], errors: [], frames: 0,
  selected: null, types: null, health: {}, meters: {}, pending: new Map(),
};
window.aers = state;

/** The node description (from the last graph message) with this id. */
export const nodeById = (id) => state.graph && state.graph.nodes.find((n) => n.id === id);
