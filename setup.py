from setuptools import find_packages, setup

# rliable 1.2.0 fails inside `arch` with pandas 3: pandas stays below 3
ANALYSIS = ["rliable>=1.2,<1.3", "pandas>=2.2,<3", "scikit-learn>=1.5,<2", "scipy>=1.13,<2"]
# The dm_control suite through shimmy (dm_control/cartpole-swingup_sparse-v0 of the exploration suite). dm-control
# 1.0.50 asks for mujoco>=3.17 but fails on 4.0 at env creation ('MjModel' object has no attribute 'flex_vertedge'),
# so the whole project stays on mujoco 3.17; shimmy 2.0.1 imports `packaging` without declaring it.
DM_CONTROL = ["dm-control>=1.0.50,<1.1", "shimmy>=2.0.1,<2.1", "packaging>=23"]

setup(
    name="baselines_meta",
    version="0.1.0",
    description="TF2 port of OpenAI baselines DDPG with a meta-policy-gradient exploration teacher (Xu et al., ICML 2018)",
    packages=find_packages(include=["baselines_meta", "baselines_meta.*"]),
    python_requires=">=3.11,<3.12",
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "tensorflow-probability>=0.24,<0.26",
        "tf-keras>=2.16,<2.22",
        "tensorboard>=2.16,<2.22",  # --log_formats tensorboard; TensorFlow no longer installs it
        "gymnasium[mujoco]>=1.0,<1.5",
        "mujoco>=3.17,<3.18",  # the one version dm-control 1.0.50 runs on (DM_CONTROL)
        "numpy>=1.26,<3",
        "mpi4py>=4.0,<5",
        "mpich>=4.1,<6",
        "matplotlib>=3.8,<4",
    ],
    extras_require={
        "test": ["pytest>=8,<10", "pytest-xdist>=3.6,<4", "ruff>=0.6,<1", *ANALYSIS, *DM_CONTROL],  # the tests cover the analysis and dm_control
        "analysis": ANALYSIS,  # Table 2 (d) with rliable, Figure 4 (t-SNE, kernel density)
        "video": ["imageio-ffmpeg>=0.4,<1"],
        "dm_control": DM_CONTROL,
    },
    entry_points={"console_scripts": ["baselines-meta=baselines_meta.run:main"]},
)
