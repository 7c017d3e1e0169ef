// Keyboard bindings of the labeler page (the help overlay in index.html lists them). `act`
// holds the page's actions; keys do nothing while the help is open (but close it) or while
// a text field or a list box has the focus.

export function installKeys(act) {
  const help = document.getElementById("help");
  document.addEventListener("keydown", (e) => {
    if (!help.hidden) {
      if (e.key === "Escape" || e.key === "?") act.help(false);
      return;
    }
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (mod && key === "s") {
      e.preventDefault();
      act.save();
      return;
    }
    const t = e.target;
    const field = t.tagName === "SELECT" || t.tagName === "TEXTAREA" ||
      (t.tagName === "INPUT" && !["checkbox", "range"].includes(t.type));
    if (field || !act.ready()) return;
    if (t.type === "range" && e.key.startsWith("Arrow")) return;
    if (mod) {
      if (key === "c" && !String(window.getSelection())) {
        e.preventDefault();
        act.copyPrevious();
      }
      return;
    }
    if (/^[0-9]$/.test(e.key)) {
      act.part((Number(e.key) + 9) % 10); // 1 is the first body part, 0 the tenth
      return;
    }
    switch (e.key) {
      case "ArrowRight": act.frame(1); break;
      case "ArrowLeft": act.frame(-1); break;
      case "Tab": act.stepPart(e.shiftKey ? -1 : 1); break;
      case "Delete":
      case "Backspace": act.remove(); break;
      case "+":
      case "=": act.zoom(1.25); break;
      case "-": act.zoom(0.8); break;
      case "f":
      case "F": act.fit(); break;
      case "[": act.individual(-1); break;
      case "]": act.individual(1); break;
      case "?":
      case "h": act.help(true); break;
      case " ": act.space(true); break;
      default: return;
    }
    e.preventDefault();
  });
  document.addEventListener("keyup", (e) => {
    if (e.key === " ") act.space(false);
  });
}
