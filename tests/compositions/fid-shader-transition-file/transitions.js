window.__timelines["shader"] = HyperShader.init({
  bgColor: "#000000",
  scenes: ["one", "two"],
  transitions: [{ time: 0.5, shader: "domain-warp", duration: 1 }],
});
