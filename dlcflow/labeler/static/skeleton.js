// The skeleton builder (DLC's SkeletonBuilder): in this mode a click on one body part of
// the frame, then on another, adds the edge between them, or removes it when it is there;
// "Save skeleton" writes the edges to config.yaml's skeleton (POST /api/skeleton).
const same = (e, a, b) => (e[0] === a && e[1] === b) || (e[0] === b && e[1] === a);

export function createSkeleton(api, draw, say) {
  const sk = { on: false, edges: [], first: null, dirty: false };
  sk.load = async () => {
    sk.edges = (await api("/api/skeleton")).skeleton;
  };
  sk.toggle = (on) => {
    sk.on = on;
    sk.first = null;
    say(on ? "Skeleton: click a body part, then another" : "");
    draw();
  };
  sk.click = (bp) => {
    if (sk.first === null || sk.first === bp) {
      sk.first = sk.first === bp ? null : bp;
      say(sk.first ? `Skeleton: ${bp} \u2013 click the other end` : "");
    } else {
      const i = sk.edges.findIndex((e) => same(e, sk.first, bp));
      if (i >= 0) sk.edges.splice(i, 1);
      else sk.edges.push([sk.first, bp]);
      say(`Skeleton: ${i >= 0 ? "removed" : "added"} ${sk.first} \u2013 ${bp} (unsaved)`);
      sk.first = null;
      sk.dirty = true;
    }
    draw();
  };
  sk.save = async () => {
    sk.edges = (await api("/api/skeleton", { skeleton: sk.edges })).skeleton;
    sk.dirty = false;
    say(`Skeleton saved: ${sk.edges.length} edges in config.yaml`);
  };
  return sk;
}
